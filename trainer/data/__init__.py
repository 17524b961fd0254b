"""The data layer: each task's reader (text, ner, image; no torch) and its tensors (features, image_features)."""
