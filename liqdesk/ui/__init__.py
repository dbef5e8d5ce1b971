"""liqdesk.ui"""
