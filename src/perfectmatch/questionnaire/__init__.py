"""Adaptive questionnaire engine: question banks, branching rules, dimension scores, sessions."""
