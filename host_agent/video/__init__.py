"""The video pipeline in order: damage -> scheduler -> capture -> change detection -> watermark ->
rate control -> encoder (x264); the screen track and the cursor.
"""
