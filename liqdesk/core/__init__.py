"""liqdesk.core"""
