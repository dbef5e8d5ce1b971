"""liqdesk: a real-time crypto liquidation heatmap."""

__version__ = "0.1.0"
