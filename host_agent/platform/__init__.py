"""Desktop-system backends behind the seams of video/ and input/ (X11 today; Windows next)."""
