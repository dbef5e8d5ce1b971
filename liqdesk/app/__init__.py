"""liqdesk.app"""
