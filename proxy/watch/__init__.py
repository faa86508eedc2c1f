"""Everything after the client has its answer: the mirror, the backlog, the classifier
process. Off the request path and bounded; nothing here can fail or slow a client."""
