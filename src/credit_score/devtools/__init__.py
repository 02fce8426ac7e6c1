"""Developer tools: the local HTTP server and the OpenAPI document. Never in the Lambda image."""
