"""Loopback fakes of the live services: the real pylast and spotipy clients talk to them."""
