"""Human handoff: who owns a conversation, bot or person, and how it changes hands.

:mod:`.triggers` decides from the customer's words, :mod:`.service` records the change,
:mod:`.transfer` moves the Whaticket ticket, :mod:`.presence` notices a person answering,
:mod:`.watch` runs the SLA and resume rules, :mod:`.messages` says it honestly to the customer,
:mod:`.summary` leaves the agent what the bot learned, :mod:`.note` puts it in the ticket.
"""
