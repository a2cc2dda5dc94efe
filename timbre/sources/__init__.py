"""Everything that reads the outside world: files, the catalogue, Last.fm, Spotify, the demo."""
