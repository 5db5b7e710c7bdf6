"""Figures the tenants page shows: messages by weekday and hour, answered vs handed off, first-reply
time, budget use (:mod:`.charts`), and conversations by campaign (:mod:`.service`)."""
