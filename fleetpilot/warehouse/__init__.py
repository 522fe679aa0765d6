"""A simulated warehouse: the whole stack (allocation -> MAPF -> controller -> tuned CBF -> wheels)
doing pick-and-deliver work on one floor."""
