"""Build-time training: raw data cleaning, synthetic demo data, fit, evaluate, log, register, gate.

Never imported by the Lambda image (it needs scikit-learn, pandas and mlflow). Entry points:
``python -m credit_score.modelling.training`` (see ``cli``) and :func:`credit_score.modelling.training.train.train`.
"""
