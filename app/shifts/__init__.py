"""Shifts in the operations room: signing on and off duty, the shift log, and the handover sheet
the outgoing shift writes and the incoming one acknowledges (docs/shifts.md)."""
