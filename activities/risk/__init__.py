"""The fraud check: risk rules, the model's features and score."""
