"""The water feed adapters: SenML (RFC 8428) JSON packs from network sensors, polled over HTTP."""
