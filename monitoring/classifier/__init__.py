"""Refusal (none | partial | full) and caution classifier for chat-model responses.

Usage::

    clf = load_classifier()
    c = clf.classify(response, prompt=None)   # c.refusal, c.caution, c.scores
"""

from tunewatch.monitoring.classifier.model import Classification, Classifier, load_classifier

__all__ = ["Classification", "Classifier", "load_classifier"]
