"""Engagement: tasks, daily check-in, survey, reviews, badges and fair games paid from the game budget."""
