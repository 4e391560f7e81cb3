"""Loading stream configs: parsing with locations, env interpolation, validation."""
