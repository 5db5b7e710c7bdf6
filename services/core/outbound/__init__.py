"""Messages that leave for the customer outside a turn, and the one way every message reaches
Whaticket (:mod:`.delivery`)."""
