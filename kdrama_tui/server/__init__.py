"""The aiohttp application: thin handlers over the domain services."""
