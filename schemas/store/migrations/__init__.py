"""Alembic migration environment of the paysaga database; see ``env.py``."""


def render_item(type_: str, obj, autogen_context) -> str | bool:
    """Autogenerate hook: sqlmodel's column types rendered as the plain SQLAlchemy types
    they stand for, so a migration never changes when sqlmodel does."""
    if type_ != "type":
        return False
    name = type(obj).__name__
    if name == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    if name == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False
