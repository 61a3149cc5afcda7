"""The water feed adapters: SenML (RFC 8428) packs polled over HTTP or received by MQTT subscription."""
