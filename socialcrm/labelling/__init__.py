"""Custom labels as machine learning: features of texts, a light linear head, cross-validated estimates, prediction.

No database here: ``services.labels`` stores labels, examples and predictions; this package turns
texts into features and examples into a head.
"""
