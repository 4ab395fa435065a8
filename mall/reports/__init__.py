"""Programme reports for operators: points flows, liability, breakage, merchants, green share."""
