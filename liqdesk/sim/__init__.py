"""liqdesk.sim"""
