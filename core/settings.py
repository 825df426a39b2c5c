"""A finished configuration's values without the code that made them (core.config)."""


class Settings:
    """Plain attributes, the same names as core.config.Config's public ones."""


def snapshot(cfg):
    """Settings holding every public value of cfg (class defaults included)."""
    s = Settings()
    for k in dir(cfg):
        if k[0] != "_":
            v = getattr(cfg, k)
            if not callable(v):
                setattr(s, k, v)
    return s
