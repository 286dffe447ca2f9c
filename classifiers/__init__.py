"""Language detection and German/English sentiment behind one Classifier protocol (no socialcrm imports)."""

from classifiers.base import LABELS, Analysis, Classifier, ClassifierError, Label, Sentiment

__all__ = ["LABELS", "Analysis", "Classifier", "ClassifierError", "Label", "Sentiment"]
