"""Private document assistant: encrypted local store, cited and verified answers, nothing leaves."""
import rag.offline  # noqa: F401  must run before any library that could reach the network
