"""The delivery worker: send jobs from a queue (SQS, or a durable embedded queue), routed to the workspace's
server, delivered, archived, and each recipient's outcome recorded, retried with backoff or dead-lettered."""
