"""The reservation inside the files: rights metadata in cover art and audio previews.

`optout media stamp` writes, into every image and audio file of a directory, the
reservation the policy resolves for the path it is served at (the resolution the
headers use): IPTC/XMP in JPEG and PNG, ID3 in MP3 and WAV, Vorbis comments in
FLAC, and, with the label's certificate, a signed C2PA manifest carrying the
CAWG training-and-data-mining assertion. `optout media check` reads them back.
"""
