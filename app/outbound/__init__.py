"""What leaves the system: webhooks (Alertmanager format for alerts) and e-mail, fanned out from
the alerts' change stream and the feeds' states, queued in Redis, sent by the dispatcher process."""
