"""Voice notes and images: fetched from WhatsApp's media servers with the key the message
carries, decrypted, and turned into text by Gemini before the turn answers."""
