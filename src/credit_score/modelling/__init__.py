"""Build time: registry connection, training and the champion gate, ONNX conversion, the downloader.

Never in the Lambda image; it may import :mod:`credit_score.runtime` to check parity through the served code.
"""
