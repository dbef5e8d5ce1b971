"""liqdesk.sources"""
