"""The local cloud: a moto server on loopback, and (later) namespace hosts for its instances."""
