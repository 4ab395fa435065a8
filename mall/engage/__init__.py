"""Engagement: tasks and daily check-in (``tasks``), survey and reviews (``reviews``), badges (``badges``)
and fair games (``games``), every reward paid from the game budget (``budget``)."""
