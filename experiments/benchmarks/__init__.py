"""The benchmark (``babyworld bench``) and its measurements."""
