"""The contract shared by every part of the service: fields, encoding, bundle, capture and profile formats.

Imports numpy only, so the Lambda image, training and monitoring all read the same rules.
"""
