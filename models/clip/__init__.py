"""Search imagery with words: CLIP-style image and text embeddings (LRSCLIP, RemoteCLIP), text
search over a stored chip index and zero-shot classification.

network (open_clip builder), checkpoint (safe reading of published layouts), text (tokens with a
length check), model (a loaded CLIP), search (ranking and zero-shot maths on numpy arrays) and
index (the chip embeddings GeoPackage).
"""
