"""liqdesk.store"""
