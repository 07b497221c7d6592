"""MongoDB backend (PyMongo's AsyncMongoClient): production, multi-instance."""
