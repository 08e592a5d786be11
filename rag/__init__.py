"""Private document assistant: encrypted local store, cited and verified answers, nothing leaves."""
import rag.offline  # noqa: F401  must run before any library that could reach the network

__all__ = ["Assistant", "Answer", "Citation", "DocumentInfo"]


def __getattr__(name: str):
    # Lazy: `import rag` (and every --help) stays instant; torch loads only when a model is needed.
    if name in ("Assistant", "DocumentInfo"):
        from rag import api

        return getattr(api, name)
    if name in ("Answer", "Citation"):
        from rag import answer

        return getattr(answer, name)
    raise AttributeError(name)
