"""The pages the service serves: the live ticker demo and the editor desk."""
