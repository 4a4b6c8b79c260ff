"""The bhyve compute driver: guests through libvirt, Nova's driver interface.

``driver.BhyveDriver`` works without Nova; ``nova.BhyveComputeDriver`` is the
same driver behind Nova's ComputeDriver base class.
"""
