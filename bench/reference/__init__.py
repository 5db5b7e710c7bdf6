"""The reference stack `make bench` measures Atende against: the seed system's design, a Flask
webhook under gunicorn that stores the message and enqueues an RQ job, and one RQ worker that
calls Gemini, sends through Whaticket and stores the reply. It does the same work per message
as Atende's happy path, with none of its guarantees; it exists only inside the benchmark."""
