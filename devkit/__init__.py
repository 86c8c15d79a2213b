"""What the demo, the bench and the tests share: Xvfb starter, sample EHR, Chromium launcher,
broker runner, sign-in helpers.
"""
