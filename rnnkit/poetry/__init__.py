"""Classical Chinese poetry: the Complete Tang Poems corpus, its cleaning, forms and splits."""
