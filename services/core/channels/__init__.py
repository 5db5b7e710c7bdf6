"""The channels' own vocabulary: the webhook formats that arrive (Baileys through Whaticket,
Meta's Cloud API) and the clients that speak to Whaticket, Meta's Graph API, SMS gateways, SMTP
and WhatsApp's media host. Nothing here touches the database or holds tenant state: callers pass
the destination and credentials in."""
